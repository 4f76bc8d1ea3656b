{{ stage_identity('dukcapil__individu') }}
