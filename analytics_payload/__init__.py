"""The analytics Lambda function that layerforge layers are proven with.

Its requirements (the seed's pins) live in ``requirements.txt`` beside this file.
"""
