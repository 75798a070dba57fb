"""Thin command modules: parse flags, build a Settings model, call the library's ``run``."""
