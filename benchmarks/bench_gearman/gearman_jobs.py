from djworkers.gearman import gearman_job


@gearman_job(name="bench.echo")
def echo(value):
    return value
