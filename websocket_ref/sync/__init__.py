"""The threading ("sync") API: blocking calls in the application's threads.

* :func:`websocket_ref.sync.client.connect` opens a client connection;
* :func:`websocket_ref.sync.server.serve` runs a server, a handler thread per connection.

Both put the Sans-I/O core on sockets; see :mod:`websocket_ref.sync.connection` for
how threads share a connection. One selector thread reads the sockets of all of a
server's connections (another those of the process's clients:
:mod:`websocket_ref.sync.selector`), and keepalive pings of every connection run on one
shared timer thread (:mod:`websocket_ref.sync.scheduler`), not on a thread per connection.
"""
