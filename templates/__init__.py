"""Jinja2 templates for the generated modules (shipped inside the wheel as mdp_templates)."""
