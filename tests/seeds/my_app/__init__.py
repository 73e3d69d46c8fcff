"""The ``my_app`` of the django-dumbwaiter README: a function to cache and a serializer module."""
