"""The three stages of the pipeline. Each takes an SQS event and the ports, and returns
the partial-batch response Lambda expects, with counts for metrics."""
