"""The FedMKT round protocol, written once and free of any transport.

- :mod:`~fedmkt.federation.plan`: which steps a method runs in a round, in which order, by which role;
- :mod:`~fedmkt.federation.client_steps` and :mod:`~fedmkt.federation.server_steps`: the steps,
  each a function of the core role object and flat arguments, returning bytes and reports
  (:mod:`~fedmkt.federation.reported`).

The transports walk the plan and call the steps: ``fedmkt.runners.federated`` in one process
(with checkpoints, the communication ledger and the log around each step), and
``fedmkt.deploy.flower`` over Flower (messages only). Nothing here opens a run folder or a socket.
"""
