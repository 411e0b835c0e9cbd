"""Hardware abstraction layer. Imports nothing from nvrd (see DESIGN.md)."""
