"""The SparkProctoring API (sparkproctoring.swagger.json), base path /api/v1."""
