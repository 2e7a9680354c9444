"""Storage backends behind one small interface (``storage.base.EventStore``)."""
