"""``my_app.utils.function_name`` from the django-dumbwaiter README's function list."""


def function_name() -> dict:
    """Something expensive to count; a dict so the serializer has structure to carry."""
    return {"count": 42}
