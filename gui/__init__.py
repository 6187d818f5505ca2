"""Limelight's PySide6 desktop application."""
