"""The API's views, one module per resource. Views are thin: parse and validate the request,
await the backend (the fleet manager over ROS) or the bridge's own store, shape JSON."""
