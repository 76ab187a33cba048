"""The baseline of bench/bench_service.py: a bare Flask app answering POST /v1/predict with a fixed small
JSON result after parsing the JSON body, served by the same gunicorn settings as the service."""

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/v1/predict")
def predict():
    """Parse the body, answer a constant result of the service's shape."""
    body = request.get_json()
    return jsonify({"model_version": "bare", "results": [{"labels": [], "scores": {}, "n": len(body)}]})
