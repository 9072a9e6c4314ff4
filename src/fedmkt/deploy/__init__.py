"""Deployments of FedMKT on a real federation engine (Flower), driving the same core objects.

Needs the ``flower`` extra (``pip install 'fedmkt[flower]'``); nothing here is imported by the
rest of the library.
"""
