"""A stock Django project with django-oauth-toolkit at its defaults: the bench's outside baseline."""
