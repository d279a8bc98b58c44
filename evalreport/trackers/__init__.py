"""Attach an evaluation to an experiment tracker: MLflow (``mlflow.py``) and Weights & Biases
(``wandb.py``), both fed by ``figures.py`` from the same dictionaries as the JSON, so every value
logged is the JSON's. Neither tracker is imported, or required, unless asked for."""
