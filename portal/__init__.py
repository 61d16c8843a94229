"""The Django project: settings, root URLs, WSGI entry point and the embedded demo database."""
