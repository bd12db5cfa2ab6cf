"""GMOS quality-assessment (qa) recipe libraries: one file at a time at the telescope."""
