"""Reading history from a deployment: the capture sources (the oplog, a change stream) behind
one seam, the tails, the archiver and its catch-up, a base backup's anchor, what happened since a
position, and how far back a source reaches."""
