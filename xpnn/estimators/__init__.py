"""The scikit-learn estimators and their input checks; imports training, parallel and below."""
