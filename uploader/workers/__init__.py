"""The Uploader's background duties, each a small unit with one query and its own interval, as in
River: the claimer, the rescuer, the request-log pruner and the backlog gauge. `duties.py` lists
them (server.py starts that list) and `periodic.py` runs each."""
