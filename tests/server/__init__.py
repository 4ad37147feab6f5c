"""pot serve with its clients: recording through the server, against the real parts."""
