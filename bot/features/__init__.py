"""Capabilities plugged into the dispatcher: each declares what it adds in a
:class:`bot.feature.FeatureSpec` and works through a :class:`bot.feature.FeatureContext`.
The list the service runs with is :func:`bot.app.default_features`.
"""
