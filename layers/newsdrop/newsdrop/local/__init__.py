"""Running the pipeline off AWS: in-process (`newsdrop build`) and as a local stack on moto (`newsdrop dev`)."""
