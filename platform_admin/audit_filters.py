"""The audit page's filter form, shared by the HTML list and the CSV export."""

from datetime import UTC, date, datetime, time, timedelta

from django import forms

from platform_admin.models import AuditEvent


class AuditFilterForm(forms.Form):
    actor = forms.CharField(required=False)
    action = forms.CharField(required=False)
    environment = forms.CharField(required=False)
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError("'since' must be on or before 'until'.")
        return data

    def filter(self, queryset=None):
        queryset = AuditEvent.objects.all() if queryset is None else queryset
        if not self.is_valid():
            return queryset.none()
        data = self.cleaned_data
        if data["actor"]:
            queryset = queryset.filter(actor=data["actor"])
        if data["action"]:
            queryset = queryset.filter(action__startswith=data["action"])
        if data["environment"]:
            queryset = queryset.filter(environment=data["environment"])
        if data["since"]:
            queryset = queryset.filter(created_at__gte=_start_of(data["since"]))
        if data["until"] and data["until"] < date.max:
            # Up to the end of that day. The calendar's last day has no next day to stop
            # before, and nothing happened after it: no bound at all.
            queryset = queryset.filter(created_at__lt=_start_of(data["until"] + timedelta(days=1)))
        return queryset

    def error_sentences(self) -> list[str]:
        """The form's errors as sentences naming the field ("until: Enter a valid date.")."""
        return [
            f"{field}: {message}" if field != "__all__" else message
            for field, messages in self.errors.items()
            for message in messages
        ]


def _start_of(day) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)
