"""An example analytics function: sales per region from a CSV in S3, written back to S3."""
