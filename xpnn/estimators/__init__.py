"""The scikit-learn estimators and what they accept, print and call back; imports training, parallel and below."""
