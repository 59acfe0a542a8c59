from hiermovie.cli import main

main()
