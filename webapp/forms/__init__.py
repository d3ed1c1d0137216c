"""Flask-WTF forms, one module per area, mirroring views/."""
