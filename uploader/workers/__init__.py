"""The Uploader's background duties, each a small unit with one query and its own interval, as in
River: the claimer (claims due content and hands it to the publisher), the rescuer (expired
leases become unknown outcomes) and the backlog gauge (how much is due and unclaimed). Each runs
on its own through `periodic.run_periodically`; uploader/server.py starts them."""
