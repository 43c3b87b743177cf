"""Forms of the deployment pages. They check input for the person; the rules that matter
(roles, immutability, uniqueness) are enforced again by deployments.services."""

from django import forms

from deployments.validators import (
    IMAGE_MAX,
    NOTES_MAX,
    VERSION_MAX,
    cloud_run_service_names,
    deployable_service_names,
    static_site_names,
    validate_build_prefix,
    validate_image_digest,
    validate_notes,
    validate_semver,
)


class ReleaseForm(forms.Form):
    version = forms.CharField(
        validators=[validate_semver],  # the length too: one sentence, not two
        widget=forms.TextInput(attrs={"maxlength": VERSION_MAX}),
        help_text="Semantic version, e.g. 1.5.0 or 2.0.0-rc.1",
    )
    notes = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": NOTES_MAX}),
        required=False,
        validators=[validate_notes],
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        sites = set(static_site_names())
        for name in deployable_service_names():
            site = name in sites
            self.fields[f"image_{name}"] = forms.CharField(
                label=name,
                required=False,
                validators=[validate_build_prefix if site else validate_image_digest],
                widget=forms.TextInput(
                    attrs={
                        "placeholder": "gs://BUCKET/PATH/builds/VERSION/"
                        if site
                        else "REGISTRY/PATH[:tag]@sha256:<64 hex>",
                        "size": 90,
                        "maxlength": IMAGE_MAX,
                    }
                ),
            )

        for name in cloud_run_service_names():
            self.fields[f"resources_{name}"] = forms.CharField(
                label=f"{name} resources",
                required=False,
                widget=forms.TextInput(
                    attrs={
                        "placeholder": "e.g. cpu=2 memory_gib=4 min_instances=1 "
                        "max_instances=10 concurrency=10",
                        "size": 60,
                        "maxlength": 200,
                    }
                ),
            )

    def image_fields(self):
        return [self[name] for name in self.fields if name.startswith("image_")]

    def resource_fields(self):
        return [self[name] for name in self.fields if name.startswith("resources_")]

    @staticmethod
    def _pairs(text: str) -> dict:
        """ "cpu=2 memory_gib=4" (or comma-separated) as {"cpu": "2", "memory_gib": "4"}."""
        pairs = {}
        for part in text.replace(",", " ").split():
            key, sep, value = part.partition("=")
            if not sep or not key or not value:
                raise forms.ValidationError(
                    f"{part!r} is not key=value (e.g. memory_gib=4)", code="resources"
                )
            pairs[key.strip()] = value.strip()
        return pairs

    def resources(self) -> dict[str, dict]:
        """{service: {key: value text}} as typed (clean() checked the pairs);
        services.create_release judges the values."""
        return {
            name.removeprefix("resources_"): self._pairs(value)
            for name, value in self.cleaned_data.items()
            if name.startswith("resources_") and value and value.strip()
        }

    def clean(self):
        data = super().clean()
        for name in [n for n in data if n.startswith("resources_")]:
            try:
                self._pairs(data[name] or "")
            except forms.ValidationError as exc:
                self.add_error(name, exc)
        if not self.errors and not self.artifacts():
            raise forms.ValidationError("Give an image for at least one service.")
        return data

    def artifacts(self) -> dict[str, str]:
        return {
            name.removeprefix("image_"): value.strip()
            for name, value in self.cleaned_data.items()
            if name.startswith("image_") and value and value.strip()
        }
