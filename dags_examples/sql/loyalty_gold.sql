-- The day's gold loyalty members: a derived dataset (Data Distiller CTAS) for the export that follows.
CREATE TABLE loyalty_gold_{{ ds_nodash }} AS
SELECT personID, email, loyaltyPoints, country
FROM loyalty_members
WHERE loyaltyPoints >= {{ params.min_points }}
