from django.apps import AppConfig


class PlatformAdminConfig(AppConfig):
    name = "platform_admin"
    verbose_name = "Platform admin"

    def ready(self) -> None:
        from platform_admin import signals  # noqa: F401  (connects the login audit hooks)
