"""Reading Label Studio labelling configs: which <Choices> over which <Text>, and clear refusals."""

from __future__ import annotations

import pytest

from service.label_studio.labelling_config import MAX_CONFIG_CHARS, ChoicesTarget, LabelConfigError, parse_label_config
from tests.label_studio.conftest import LABELS, MULTI_CONFIG, SABOTAGE_ONLY_CONFIG, SINGLE_CONFIG


def test_multiple_choice_config():
    assert parse_label_config(MULTI_CONFIG, LABELS) == ChoicesTarget(
        from_name="labels", to_name="text", text_key="text", labels=LABELS, multiple=True
    )


def test_single_choice_config_with_aliases_and_another_data_key():
    assert parse_label_config(SINGLE_CONFIG, LABELS) == ChoicesTarget(
        from_name="label", to_name="body", text_key="passage", labels=LABELS, multiple=False
    )


def test_subset_of_the_labels():
    target = parse_label_config(SABOTAGE_ONLY_CONFIG, LABELS)
    assert target.labels == ("sabotage_mention",)
    assert target.multiple is True


def test_first_fitting_control_wins_and_other_controls_are_ignored():
    config = """<View>
      <Header value="Read the passage"/>
      <Text name="title" value="Static heading, not task data"/>
      <Text name="text" value="$text"/>
      <Choices name="sentiment" toName="text"><Choice value="Positive"/><Choice value="Negative"/></Choices>
      <Choices name="regional" toName="text" perRegion="true"><Choice value="sabotage_mention"/></Choices>
      <View><Choices name="alerts" toName="other,text" choice="multiple">
        <View><Choice value="support_statement"/></View><Choice value="sabotage_mention"/>
      </Choices></View>
      <TextArea name="note" toName="text"/>
    </View>"""
    assert parse_label_config(config, LABELS) == ChoicesTarget(
        from_name="alerts", to_name="text", text_key="text", labels=("support_statement", "sabotage_mention"),
        multiple=True,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("", "the labelling config is empty"),
        ("   ", "the labelling config is empty"),
        (
            "<View><Text name='text' value='$text'>",
            "the labelling config is not valid XML: no element found: line 1, column 38",
        ),
        (
            "<View><Choices name='c' toName='text'><Choice value='sabotage_mention'/></Choices></View>",
            'the labelling config has no <Text> object showing task data (e.g. <Text name="text" value="$text"/>)',
        ),
        (
            "<View><Text name='text' value='$text'/></View>",
            "the labelling config has no <Choices> control over a <Text> object "
            "(<Text> objects: text; <Choices> controls: none)",
        ),
        (
            "<View><Text name='text' value='$text'/><Image name='img' value='$image'/>"
            "<Choices name='c' toName='img'><Choice value='sabotage_mention'/></Choices></View>",
            "the labelling config has no <Choices> control over a <Text> object "
            '(<Text> objects: text; <Choices> controls: <Choices name="c"> toName="img")',
        ),
        (
            "<View><Text name='text' value='$text'/>"
            "<Choices name='c' toName='text'><Choice value='Threat'/><Choice value='sabotage_mention'/>"
            "<Choice value='Other'/></Choices></View>",
            '<Choices name="c"> has choices that are not model labels: Threat, Other; '
            "the model's labels are: hybrid_threat_warning, sabotage_mention, support_statement",
        ),
        (
            "<View><Text name='text' value='$text'/><Choices name='c' toName='text' value='$options'/></View>",
            '<Choices name="c"> takes its choices from task data ($options); '
            "the model's labels are: hybrid_threat_warning, sabotage_mention, support_statement",
        ),
        (
            "<View><Text name='text' value='$text'/><Choices name='c' toName='text'></Choices></View>",
            '<Choices name="c"> has no <Choice> elements; '
            "the model's labels are: hybrid_threat_warning, sabotage_mention, support_statement",
        ),
    ],
)
def test_unfit_configs_are_refused_naming_what_is_missing(config, message):
    with pytest.raises(LabelConfigError) as caught:
        parse_label_config(config, LABELS)
    assert str(caught.value) == message


def test_tag_names_are_case_sensitive_like_label_studio():
    config = MULTI_CONFIG.replace("<Choices", "<choices").replace("</Choices>", "</choices>")
    with pytest.raises(LabelConfigError, match="no <Choices> control over a <Text> object"):
        parse_label_config(config, LABELS)


def test_entity_expansion_bomb_is_refused():
    entities = '<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {b} "{("&" + a + ";") * 10}">' for a, b in zip("abcdefg", "bcdefgh", strict=True)
    )
    config = f"<!DOCTYPE View [{entities}]><View><Text name='text' value='$text'/><Header value='&h;'/></View>"
    with pytest.raises(LabelConfigError, match="not valid XML: limit on input amplification factor"):
        parse_label_config(config, LABELS)


def test_oversized_config_is_refused():
    config = "<View>" + " " * MAX_CONFIG_CHARS + "</View>"
    with pytest.raises(LabelConfigError) as caught:
        parse_label_config(config, LABELS)
    assert str(caught.value) == f"the labelling config has {MAX_CONFIG_CHARS + 13} characters; the limit is 200000"
