"""lifeboat undo: put back what one incident destroyed."""
