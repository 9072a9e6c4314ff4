"""FedMKT as a Flower app: ``server_app:app`` (the ServerApp) and ``client_app:app`` (the ClientApp).

Modules: ``settings`` (the run config), ``task`` (builds the core objects as the in-process runner
does), ``codec`` (core bytes and adapters as Flower records), ``exchange`` (one step's messages
with timeouts and exclusions), ``registration`` (which node serves which client), ``federation``
(the rounds), ``node`` (a client's state between messages), ``runlog`` and ``results`` (the run
folder), ``project`` (the app folder ``flwr run`` submits). See docs/deploy.md.
"""
