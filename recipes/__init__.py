"""Recipe libraries: plain functions calling primitives."""
