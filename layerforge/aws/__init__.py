"""Publishing and proving on AWS: boto3 clients are passed in, so moto or AWS serve alike.

Import the submodules (``layerforge.aws.run``, ``.publish``, ``.cleanup`` ...): this package
itself loads nothing, so commands that never talk to AWS never load boto3.
"""
