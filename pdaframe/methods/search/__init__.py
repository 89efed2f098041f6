"""Global search in the parameter box (every parameter needs finite bounds).

* `adaptor`: the map -> ask/tell adaptor (`MapAskTell`), which runs an optimiser that
  evaluates through a map hook (scipy's ``workers=``) as an ask/tell ensemble state.
* `de`: differential evolution (scipy's, through the adaptor).
* `ga`: a genetic algorithm (bounded SBX, polynomial mutation, elitist survival).
* `sceua`: shuffled complex evolution (Duan, Sorooshian & Gupta 1992, 1994).
* `dds`: dynamically dimensioned search (Tolson & Shoemaker 2007).
* `shared`: what all use: the member cost, seed and budget checks, the search box,
  polish and posterior at the end.
"""
