"""Where two resolved configs differ: dotted paths, items of lists, a suite's experiments by name."""

from fedmkt.report.config_diff import ABSENT, Difference, differences, shown_value


def test_nested_keys_and_list_items_are_dotted_paths_in_the_configs_order():
    before = {"seed": 0, "clients": [{"model": "a", "lora": {"r": 4}}], "fedmkt": {"top_k": 8}}
    after = {"seed": 0, "clients": [{"model": "b", "lora": {"r": 4}}, {"model": "c"}], "fedmkt": {"top_k": 8, "x": 1}}
    assert differences(before, after) == [
        Difference("clients.0.model", "a", "b"), Difference("clients.1", ABSENT, {"model": "c"}),
        Difference("fedmkt.x", ABSENT, 1)]


def test_ignored_paths_and_everything_below_them_are_left_out():
    before = {"name": "a", "tracking": {"report_to": []}, "trackingx": 1}
    after = {"name": "b", "tracking": {"report_to": ["mlflow"]}, "trackingx": 2}
    assert differences(before, after, ignore=("name", "tracking")) == [Difference("trackingx", 1, 2)]


def test_a_suites_experiments_pair_by_name_and_a_new_order_is_one_difference():
    before = {"experiments": [{"name": "a", "seed": 0}, {"name": "b", "seed": 0}]}
    after = {"experiments": [{"name": "b", "seed": 1}, {"name": "a", "seed": 0}]}
    assert differences(before, after) == [Difference("experiments.b.seed", 0, 1),
                                          Difference("experiments", ["a", "b"], ["b", "a"], order=True)]


def test_values_are_shown_as_json_cut_to_forty_characters():
    assert shown_value(ABSENT) == "absent" and shown_value("x") == '"x"' and shown_value(None) == "null"
    long = shown_value("y" * 100)
    assert len(long) == 40 and long.endswith("...")
