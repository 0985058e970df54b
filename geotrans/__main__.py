from geotrans.cli import main

main(prog_name="geotrans")
