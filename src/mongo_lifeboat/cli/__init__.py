"""The ``lifeboat`` command: one module per command group; thin (parse -> service -> render)."""
