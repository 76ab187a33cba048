"""Sentences that use the label words in other senses, and sentences in the labels' own senses, written for
the behavioural tests (never training data): issue 21's measure of how often the shipped model alerts on
"hybrid" cars, work and courts or on figurative "sabotage" in sport, business and politics."""

H, S = "hybrid_threat_warning", "sabotage_mention"

# (text, the label whose word it borrows): none of them should raise that label (or any other).
OTHER_SENSES = [
    ("The new hybrid SUV combines a petrol engine with an electric motor.", H),
    ("Hybrid cars made up a third of new registrations last year.", H),
    ("The company moved to a hybrid work model, with two office days a week.", H),
    ("Many employees prefer hybrid working to a full return to the office.", H),
    ("The school offers hybrid lessons, partly online and partly in class.", H),
    ("The conference will be held in a hybrid format, in person and online.", H),
    ("A hybrid court of national and international judges will hear the case.", H),
    ("Farmers planted a new drought-resistant hybrid variety of maize.", H),
    ("The tiger-lion hybrid at the zoo is called a liger.", H),
    ("The band's sound is a hybrid of jazz and electronic music.", H),
    ("The airline ordered hybrid-electric aircraft for short regional routes.", H),
    ("Analysts expect hybrid bonds to remain popular with insurers.", H),
    ("The striker sabotaged his own team's chances with a needless red card.", S),
    ("Critics said the minister's remarks sabotaged the peace talks.", S),
    ("She accused her rival of sabotaging her campaign for the party leadership.", S),
    ("Poor sleep can sabotage your diet, nutritionists say.", S),
    ("The coach said the team had sabotaged itself with careless mistakes.", S),
    ("Opposition parties were accused of sabotaging the budget vote.", S),
    ("Procrastination is the quiet saboteur of every deadline.", S),
    ("The film is a comedy about a chef who sabotages a rival restaurant's menu.", S),
    ("Late changes to the rules sabotaged the reform, the union said.", S),
    ("Don't sabotage the negotiations by leaking the draft, he warned his colleagues.", S),
    ("The goalkeeper's error sabotaged a promising season.", S),
    ("Bad planning sabotaged the product launch, the report concluded.", S),
]

# (text, the label it should raise): the same words in the labels' own senses keep alerting.
PLAIN_SENSES = [
    ("Russia is waging a hybrid war against Europe, with cyber attacks and disinformation.", H),
    ("NATO warned of hybrid attacks on critical infrastructure in the Baltic states.", H),
    ("Hybrid threats such as election interference are rising, the report warns.", H),
    ("The minister warned that hostile states use hybrid tactics to destabilise the region.", H),
    ("Police are investigating sabotage on the railway after signal cables were cut.", S),
    ("Investigators suspect sabotage after an undersea cable was damaged in the Baltic Sea.", S),
    ("Two men were arrested for planning sabotage attacks on military supply lines.", S),
    ("The pipeline blast was an act of sabotage, prosecutors said.", S),
]


def alert_counts(predictor) -> tuple[int, int]:
    """(other-sense sentences that raise any label, plain-sense sentences that raise their own label) of a
    `classifier.predictor.Predictor`: the two counts issue 21 judges a model by."""
    other = predictor.predict_texts([text for text, _ in OTHER_SENSES])
    plain = predictor.predict_texts([text for text, _ in PLAIN_SENSES])
    return (
        sum(bool(result["labels"]) for result in other),
        sum(label in result["labels"] for (_, label), result in zip(PLAIN_SENSES, plain, strict=True)),
    )
