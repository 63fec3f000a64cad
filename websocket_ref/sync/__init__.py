"""The threading ("sync") API: blocking calls, one reader thread per connection.

* :func:`websocket_ref.sync.client.connect` opens a client connection;
* :func:`websocket_ref.sync.server.serve` runs a server, a thread per connection.

Both put the Sans-I/O core on sockets; see :mod:`websocket_ref.sync.connection` for
how threads share a connection. Keepalive pings of every connection run on one shared
timer thread (:mod:`websocket_ref.sync.scheduler`), not on a thread per connection.
"""
