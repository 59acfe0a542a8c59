from hiermovie.cli.main import main

main()
