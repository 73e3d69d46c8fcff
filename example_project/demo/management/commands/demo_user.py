"""``manage.py demo_user``: make sure the demo superuser exists and print how to log in."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

USERNAME = "demo"
PASSWORD = "demo"


class Command(BaseCommand):
    help = "Create (or reset) the demo superuser demo/demo and print the admin address. For the example project only."

    def add_arguments(self, parser):
        parser.add_argument(
            "--addr", default="127.0.0.1:8000", help="Where the demo server listens (for the printed URL)."
        )

    def handle(self, *args, **options):
        user, created = get_user_model().objects.get_or_create(
            username=USERNAME, defaults={"email": "demo@example.com"}
        )
        user.is_staff = user.is_superuser = True
        user.set_password(PASSWORD)
        user.save()
        self.stdout.write(
            f"{'Created' if created else 'Reset'} the demo superuser: user {USERNAME!r}, password {PASSWORD!r}\n"
            f"  Demo:      http://{options['addr']}/\n"
            f"  Dashboard: http://{options['addr']}/admin/djworkers/dashboard/"
        )
