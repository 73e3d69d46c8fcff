"""Settings blocks pasted unchanged from the original libraries' READMEs.

``my_app`` stands for the user's own app the READMEs refer to; it lives on a
path of its own (this directory), as a project's apps sit next to manage.py.
"""
