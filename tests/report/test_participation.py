"""Which clients took part in which round: the draw, minus the drawn clients a round went on without."""

from __future__ import annotations

from fedmkt.report.markdown import markdown_table
from fedmkt.report.participation import participation, render_participation

DRAWS = [
    {"event": "clients_sampled", "phase": "FedMKT", "round": 1, "clients": ["client-1", "client-3"], "of": 4},
    {"event": "clients_sampled", "phase": "FedMKT", "round": 2, "clients": ["client-2", "client-3"], "of": 4},
]


def test_each_round_lists_who_took_part_and_where_a_drawn_client_was_left_out():
    events = [
        *DRAWS,
        # Flower: client-3's node stopped answering in round 2 (excluded at the upload)
        {"event": "excluded", "phase": "FedMKT", "round": 2, "step": "upload", "client": "client-3", "reason": "x"},
        # the server rejected client-1's round-1 upload; client-4 (not drawn) is not the round's business
        {"event": "server_receive", "phase": "FedMKT", "round": 1, "receiver": "server", "accepted": ["client-3"],
         "rejected": {"client-1": "NaN in probs"}, "missing": []},
        {"event": "excluded", "phase": "FedMKT", "round": 1, "step": "upload", "client": "client-4", "reason": "x"},
    ]
    found = participation(events)
    assert [(r.round, r.took_part, r.left_out) for r in found] == [
        (1, ["client-3"], {"client-1": "upload rejected"}), (2, ["client-2"], {"client-3": "upload"})]
    text = render_participation(events)
    assert text.startswith("## Clients per round")
    assert markdown_table(["Phase", "Round", "Took part", "Clients", "Drawn, left out (step)"],
                          [("FedMKT", 2, "1 of 4", "client-2", "client-3 (upload)")], "lrrll").splitlines()[-1] in text


def test_a_redone_round_counts_once_and_a_run_without_a_draw_has_no_section():
    assert [r.took_part for r in participation([*DRAWS, DRAWS[1]])] == [["client-1", "client-3"],
                                                                        ["client-2", "client-3"]]
    assert render_participation([{"event": "round_start", "phase": "FedMKT", "round": 1}]) == ""
