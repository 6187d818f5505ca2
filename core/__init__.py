"""Limelight's headless engine: images, models, explanations and reports, with no Qt."""
