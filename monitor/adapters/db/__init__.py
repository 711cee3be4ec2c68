"""The database adapter: SQLAlchemy 2 schema, engine set-up and the stores built on them."""
